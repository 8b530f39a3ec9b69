/**
 * What the interop tests that drive oauth4webapi against our servers share: plain-http options
 * for loopback, a fetch that records every request as "METHOD /path status" (to see the DPoP
 * nonce rounds of RFC 9449 §8 and §9), and the one retry a client makes when asked for a nonce.
 */
import * as oauth from 'oauth4webapi'

/** oauth4webapi refuses http unless told: the servers here listen on 127.0.0.1. */
export const insecure = { [oauth.allowInsecureRequests]: true } as const

/** Request options whose fetch appends each request's method, path and status to `wire`. */
export function recordingOptions() {
  const wire: string[] = []
  const options = {
    ...insecure,
    [oauth.customFetch]: async (
      url: string,
      init: oauth.CustomFetchOptions<string, BodyInit | undefined>,
    ) => {
      const response = await fetch(url, init as RequestInit)
      wire.push(`${init.method} ${new URL(url).pathname} ${response.status}`)
      return response
    },
  }
  return { wire, options }
}

/** Runs a request, and once more when the server asks for a nonce (RFC 9449 §8, §9). */
export async function withNonceRetry<T>(attempt: () => Promise<T>): Promise<T> {
  try {
    return await attempt()
  } catch (error) {
    if (!oauth.isDPoPNonceError(error)) throw error
    return attempt()
  }
}
