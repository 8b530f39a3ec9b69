/**
 * Programmatic access to what the `keybound` command does.
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-4.3
 * @packageDocumentation
 * @module keybound
 */
export {
  explainProof,
  summarizeChecks,
  type ExplainContext,
  type ExplainedCheck,
  type ExplainSummary,
} from './lib/explain-proof.js'
export { MissingPackageError, type CliErrorCode } from './lib/optional-package.js'
