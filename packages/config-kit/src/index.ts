/**
 * The config kit shared by `@keybound/authorization-server` and `@keybound/gateway`: one shape
 * per config file gives the unknown-member check at every depth and the published JSON Schema,
 * `${NAME}` references are the one way both files read the environment (ADR 0046), and one
 * {@link Checker} words every bad value the same in both files (ADR 0050).
 * @see https://json-schema.org/draft-07/json-schema-validation
 * @packageDocumentation
 */
export {
  findUnknownKeys,
  memberPath,
  shape,
  toJsonSchema,
  type ArrayShape,
  type BooleanShape,
  type ConstantShape,
  type IntegerShape,
  type JsonSchema,
  type ObjectShape,
  type Shape,
  type StringShape,
  type UnionShape,
} from './schema.js'
export {
  describeUnset,
  followsFromUnset,
  substituteReferences,
  writeShorthandReferences,
  type SubstitutedDocument,
  type UnsetReference,
} from './environment.js'
export { describeUnparsable, mergeIssues } from './issues.js'
export { Checker, type ConfigObject, type StringListRule } from './checker.js'
export { checkUrl, URL_RULES, type UrlRule } from './urls.js'
export { ConfigInvalid } from './config-invalid.js'
