/** The overlay-lb AWS CDK construct (docs/cdk.md). */
export { OverlayLb, type OverlayLbProps } from './overlay-lb.js';
export type { OverlayLbSpec } from './spec-source.js';
