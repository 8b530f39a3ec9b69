// Writes the published JSON Schemas of the two config files from the shapes their loaders use
// (ADR 0046). Run after changing a shape: `npm run schema:write`. The config-shape tests fail
// while a written file differs from its shape.
import { writeFile, mkdir } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { authorizationServerJsonSchema } from '@keybound/authorization-server'
import { gatewayJsonSchema } from '@keybound/gateway'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const targets = [
  [
    'packages/authorization-server/schema/authorization-server.schema.json',
    authorizationServerJsonSchema(),
  ],
  ['packages/gateway/schema/gateway.schema.json', gatewayJsonSchema()],
]
for (const [path, schema] of targets) {
  await mkdir(dirname(join(root, path)), { recursive: true })
  await writeFile(join(root, path), `${JSON.stringify(schema, null, 2)}\n`)
  console.log(`wrote ${path}`)
}
