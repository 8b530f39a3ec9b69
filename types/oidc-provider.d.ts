/**
 * The part of oidc-provider 9's API that the interop and server tests use. The package ships no
 * type declarations and DefinitelyTyped has none for version 9, so without this file every use
 * of it in the tests would be an implicit `any` (which `typecheck:tests` refuses).
 */
declare module 'oidc-provider' {
  import type { IncomingMessage, ServerResponse } from 'node:http'

  type RequestListener = (req: IncomingMessage, res: ServerResponse) => void

  /** A registered client, as configuration callbacks receive it. */
  export interface Client {
    clientId: string
    grantTypeAllowed(grantType: string): boolean
  }

  export interface Interaction {
    uid: string
    prompt: { name: string; details: Record<string, unknown> }
    params: Record<string, unknown>
    session?: { accountId: string }
    grantId?: string
  }

  export interface Account {
    accountId: string
    claims(): Promise<Record<string, unknown>>
  }

  export interface Grant {
    addOIDCScope(scope: string): void
    addResourceScope(indicator: string, scope: string): void
    save(): Promise<string>
  }

  /** Only the options whose callbacks need typed parameters are spelled out. */
  export interface Configuration {
    issueRefreshToken?: (ctx: unknown, client: Client) => boolean | Promise<boolean>
    findAccount?: (ctx: unknown, id: string) => Account | undefined | Promise<Account | undefined>
    interactions?: { url: (ctx: unknown, interaction: Interaction) => string }
    [option: string]: unknown
  }

  export default class Provider {
    constructor(issuer: string, configuration?: Configuration)
    Grant: {
      new (properties: { accountId: string; clientId: string }): Grant
      find(id: string): Promise<Grant | undefined>
    }
    callback(): RequestListener
    on(event: string, listener: (ctx: unknown, error: unknown) => void): this
    interactionDetails(req: IncomingMessage, res: ServerResponse): Promise<Interaction>
    interactionFinished(
      req: IncomingMessage,
      res: ServerResponse,
      result: Record<string, unknown>,
      options?: { mergeWithLastSubmission?: boolean },
    ): Promise<void>
  }
}
