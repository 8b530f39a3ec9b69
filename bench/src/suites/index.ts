/**
 * The suites `npm run bench` knows, in the order they run. To add one (for example an HTTP
 * suite in its own file), export a `Suite` from it and list it here.
 */
import type { Suite } from '../lib/suite.js'
import { asJwtVerify, asToken } from './as-token.js'
import { clientProof } from './client-proof.js'
import { coreCreate } from './core-create.js'
import { coreVerify } from './core-verify.js'
import { edge } from './edge.js'
import { gateway } from './gateway.js'
import { pkcs11 } from './pkcs11.js'
import { replayMemory } from './replay-memory.js'
import { serverHttp } from './server-http.js'

export const suites: readonly Suite[] = [
  coreVerify,
  coreCreate,
  replayMemory,
  clientProof,
  serverHttp,
  gateway,
  edge,
  asToken,
  asJwtVerify,
  pkcs11,
]
