/**
 * The former tool-only policy module, kept re-exporting feature-policy.ts until the gateway
 * imports that directly (then this file goes).
 */
export { globMatch, policiesFor, toolAllowed } from './feature-policy';
