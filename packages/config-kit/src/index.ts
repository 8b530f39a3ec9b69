/**
 * The config kit shared by `@keybound/authorization-server` and `@keybound/gateway`: one shape
 * per config file gives the unknown-member check at every depth and the published JSON Schema,
 * and `${NAME}` references are the one way both files read the environment. See ADR 0046.
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
  type SubstitutedDocument,
  type UnsetReference,
} from './environment.js'
export { mergeIssues } from './issues.js'
