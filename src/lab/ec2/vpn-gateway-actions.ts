/**
 * The EC2 virtual private gateway actions the lab serves (parameters in, the model called, XML
 * out; no I/O): CreateVpnGateway, AttachVpnGateway, DetachVpnGateway, DeleteVpnGateway,
 * DescribeVpnGateways. A route may then send a network to the gateway (CreateRoute's GatewayId,
 * in actions.ts), as an on-premises network reached over a Site-to-Site VPN is routed; the lab has
 * no VPN behind it, so the router drops that traffic. docs/lab-ec2-api.md lists the differences.
 */
import { inVpc, type ActionContext, type ActionHandler } from './action-context.js';
import { applyFilters, type FilterFields } from './query.js';
import { tagsFromSpecifications } from './security-group-actions.js';
import { invalidAmazonSideAsn, lookup, type LabCloud, type VpcData, type VpnGatewayData, type World } from './state.js';
import { itemSet, tagSet, type XmlNode } from './xml.js';

function vpnGatewayXml(g: VpnGatewayData): XmlNode {
  return {
    vpnGatewayId: g.vpnGatewayId, state: 'available', type: g.type,
    attachments: itemSet(g.vpcId === null ? [] : [{ vpcId: g.vpcId, state: 'attached' }]),
    amazonSideAsn: g.amazonSideAsn, tagSet: tagSet(g.tags),
  };
}

const vpnGatewayFields: FilterFields<VpnGatewayData> = {
  'vpn-gateway-id': (g) => [g.vpnGatewayId], state: () => ['available'], type: (g) => [g.type],
  'amazon-side-asn': (g) => [String(g.amazonSideAsn)],
  'attachment.vpc-id': (g) => [g.vpcId ?? undefined], 'attachment.state': (g) => [g.vpcId === null ? undefined : 'attached'],
};

/** The gateway and the VPC a call names (both must exist), authorized on both. */
function gatewayAndVpc(ctx: ActionContext): { vpnGatewayId: string; vpcId: string } {
  const world = ctx.cloud.view() as World;
  const vgw = lookup<VpnGatewayData>(world, 'vgw', ctx.params.require('VpnGatewayId'));
  const vpc = lookup<VpcData>(world, 'vpc', ctx.params.require('VpcId'));
  ctx.authorize([gatewayResource(ctx.cloud, vgw.vpnGatewayId), inVpc(ctx.cloud, 'vpc', vpc.vpcId, vpc.vpcId)]);
  return { vpnGatewayId: vgw.vpnGatewayId, vpcId: vpc.vpcId };
}

/** A gateway is not in a VPC (it may be attached to one): no `ec2:Vpc` condition key. */
const gatewayResource = (cloud: LabCloud, id: string): ReturnType<typeof inVpc> => inVpc(cloud, 'vpn-gateway', id, null);

export const VPN_GATEWAY_ACTIONS: Readonly<Record<string, ActionHandler>> = {
  CreateVpnGateway: {
    mutating: true,
    run: (ctx) => {
      const type = ctx.params.require('Type');
      const asnText = ctx.params.get('AmazonSideAsn');
      if (asnText !== undefined && !/^\d{1,10}$/.test(asnText)) throw invalidAmazonSideAsn(asnText);
      const amazonSideAsn = asnText === undefined ? undefined : Number(asnText);
      const tags = tagsFromSpecifications(ctx.params, 'vpn-gateway');
      ctx.authorize([gatewayResource(ctx.cloud, '*')]);
      const vgw = ctx.cloud.createVpnGateway({ type, ...(amazonSideAsn === undefined ? {} : { amazonSideAsn }), tags });
      return { vpnGateway: vpnGatewayXml(vgw) };
    },
  },
  AttachVpnGateway: {
    mutating: true,
    run: (ctx) => {
      const { vpnGatewayId, vpcId } = gatewayAndVpc(ctx);
      ctx.cloud.attachVpnGateway({ vpnGatewayId, vpcId });
      // EC2 answers `attaching`; the lab's attachment is done at once (DescribeVpnGateways: `attached`).
      return { attachment: { vpcId, state: 'attaching' } };
    },
  },
  DetachVpnGateway: {
    mutating: true,
    run: (ctx) => {
      const { vpnGatewayId, vpcId } = gatewayAndVpc(ctx);
      ctx.cloud.detachVpnGateway({ vpnGatewayId, vpcId });
      return { return: true };
    },
  },
  DeleteVpnGateway: {
    mutating: true,
    run: (ctx) => {
      const vgw = lookup<VpnGatewayData>(ctx.cloud.view(), 'vgw', ctx.params.require('VpnGatewayId'));
      ctx.authorize([gatewayResource(ctx.cloud, vgw.vpnGatewayId)]);
      ctx.cloud.deleteVpnGateway({ vpnGatewayId: vgw.vpnGatewayId });
      return { return: true };
    },
  },
  DescribeVpnGateways: {
    mutating: false,
    run: (ctx) => {
      ctx.authorize([]);
      const world = ctx.view as World;
      const ids = ctx.params.list('VpnGatewayId');
      const items = ids.length > 0
        ? ids.map((id) => lookup<VpnGatewayData>(world, 'vgw', id))
        : Object.keys(world.vpnGateways).sort().map((id) => world.vpnGateways[id]!);
      const filtered = applyFilters({ items, filters: ctx.params.filters(), fields: vpnGatewayFields, tags: (g) => g.tags });
      // DescribeVpnGateways has no MaxResults/NextToken: every gateway in one answer.
      return { vpnGatewaySet: itemSet(filtered.map(vpnGatewayXml)) };
    },
  },
};
