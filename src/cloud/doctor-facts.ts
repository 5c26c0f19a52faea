/**
 * What `overlay-lb doctor` observes of a cluster through a cloud's API, in provider-neutral terms:
 * the collector of a provider (src/cloud/aws/doctor-collect.ts) fills these in with read-only
 * calls (describes, reads and DryRun requests), and the checks (src/provision/doctor-checks.ts)
 * decide over them without I/O, so every decision is table-tested. Types only.
 */

/** One security-group rule in one direction, as the cloud describes it. */
export interface SecurityRule {
  /** `-1` (every protocol), `tcp`, `udp`, `icmp` or a protocol number (`112`). */
  readonly protocol: string;
  /** Absent or -1: every port (and protocols without ports). */
  readonly fromPort?: number;
  readonly toPort?: number;
  /** Peers by address range (`10.0.1.0/24`). */
  readonly cidrs: readonly string[];
  /** Peers by group membership (the group's id): every interface in that group. */
  readonly groupIds: readonly string[];
}

export interface SecurityGroupFact {
  readonly groupId: string;
  readonly ingress: readonly SecurityRule[];
  readonly egress: readonly SecurityRule[];
}

/** The instance metadata options of an instance (absent when the API shows none). */
export interface MetadataOptionsFact {
  readonly httpTokens: 'optional' | 'required';
  readonly hopLimit: number;
  readonly endpoint: 'enabled' | 'disabled';
}

/** An instance holding a node's address in the VPC (not terminated). */
export interface NodeInstanceFact {
  readonly instanceId: string;
  /** `pending`, `running`, `stopping`, `stopped`, `shutting-down`. */
  readonly state: string;
  /** The interface holding the node's address (the VIP route's target). */
  readonly networkInterfaceId: string | null;
  /** That interface's source/destination check (on: it drops packets for the VIP). */
  readonly sourceDestCheck: boolean;
  /** That interface's security groups. */
  readonly groupIds: readonly string[];
  /** The value of the ownership tag (`overlay-lb:cluster`), null without it. */
  readonly ownerTag: string | null;
  readonly metadata: MetadataOptionsFact | null;
}

/** A route table of the VPC. */
export interface RouteTableFact {
  readonly id: string;
  readonly tags: Readonly<Record<string, string>>;
  /** Whether it has a route for the VIP's /32 (a claim replaces it; else it creates one). */
  readonly hasVipRoute: boolean;
}

/** A network the VPC reaches through a peering, transit gateway or VPN: a route to it. */
export interface PeeredNetworkFact {
  readonly cidr: string;
  /** The route's target (`pcx-...`, `tgw-...`, `vgw-...`). */
  readonly via: string;
  readonly routeTableId: string;
}

/** The answer to a DryRun of a write the agent makes. */
export type DryRunFact =
  | { readonly outcome: 'allowed' }
  | { readonly outcome: 'denied'; readonly message: string }
  | { readonly outcome: 'error'; readonly message: string };

export interface RoutePermissionFact {
  readonly routeTableId: string;
  /** The IAM action tried: `ec2:ReplaceRoute` where the VIP route exists, else `ec2:CreateRoute`. */
  readonly action: string;
  readonly dryRun: DryRunFact;
}

/** A node's published status (`PublishedNodeStatus` in the release bucket), as far as doctor reads it. */
export type PublishedStatusFact =
  | { readonly state: 'present'; readonly specHash: string; readonly specVersion: string | null; readonly publishedAt: number; readonly intervalMs: number }
  | { readonly state: 'missing' }
  | { readonly state: 'unreadable'; readonly message: string };

/** Everything doctor observed of a cluster from outside it. */
export interface ClusterFacts {
  /** Null: the VPC was not found. */
  readonly vpc: { readonly id: string; readonly cidrs: readonly string[] } | null;
  /** Node name -> the instances holding its address (none: not found; several: ambiguous). */
  readonly instances: ReadonlyMap<string, readonly NodeInstanceFact[]>;
  readonly groups: readonly SecurityGroupFact[];
  readonly routeTables: readonly RouteTableFact[];
  readonly peeredNetworks: readonly PeeredNetworkFact[];
  /** One per selected table (empty in failover mode `eip`). */
  readonly routePermissions: readonly RoutePermissionFact[];
  /** Node name -> its published status; null when the spec names no release bucket. */
  readonly statuses: ReadonlyMap<string, PublishedStatusFact> | null;
  /** The API's clock (its Date header), epoch ms: what staleness is measured against. */
  readonly now: number;
}

/** What `doctor --local` observes on a node itself. */
export interface NodeFacts {
  /** The node (by the metadata service's address), or null when IMDSv2 did not answer. */
  readonly imds: { readonly ok: true; readonly instanceId: string; readonly address: string } | { readonly ok: false; readonly message: string };
  /** A DescribeRouteTables from this node within the deadline (the node's route to the EC2 API). */
  readonly api:
    | { readonly ok: true; readonly endpoint: string }
    /** `credentials`: the SDK found no credentials to sign with (no call was sent); `unreachable`: the call got no answer or an error. */
    | { readonly ok: false; readonly endpoint: string; readonly cause: 'unreachable' | 'credentials'; readonly message: string };
  /**
   * The API's clock minus this node's (ms), from the answer's `Date` header (whole seconds, so
   * +-1 s plus the round trip); null when the API did not answer.
   */
  readonly clockSkewMs: number | null;
  /** The iptables `time` match loaded as the agent loads it, in a throwaway network namespace. */
  readonly timeMatch: { readonly ok: true } | { readonly ok: false; readonly cause: 'missing' | 'not-root' | 'other'; readonly message: string };
}
