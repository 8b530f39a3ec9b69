/**
 * Abusive HTTP clients for the limit tests of every server package: an oversized header and a
 * slowloris (a request head that never ends), over raw sockets on loopback.
 */
import { connect } from 'node:net'

/** Sends a request head with one header of `bytes` bytes over a raw socket; resolves with the status. */
export function oversizedHeader(url: string, bytes: number): Promise<number> {
  const { hostname, port, pathname } = new URL(url)
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname)
    let text = ''
    socket.on('connect', () =>
      socket.write(
        `POST ${pathname} HTTP/1.1\r\nHost: ${hostname}\r\nContent-Length: 0\r\nX-Padding: ${'a'.repeat(bytes)}\r\nConnection: close\r\n\r\n`,
      ),
    )
    socket.on('data', (chunk) => (text += String(chunk)))
    socket.on('error', () => {})
    socket.on('close', () => {
      const status = /^HTTP\/1\.1 (\d{3})/.exec(text)?.[1]
      if (status === undefined) reject(new Error('no HTTP response'))
      else resolve(Number(status))
    })
  })
}

/**
 * A slowloris client: sends a request line, then one header byte every `dripMs`, never
 * finishing. Resolves with how long the server kept the connection open.
 */
export function slowloris(url: string, dripMs = 150, giveUpMs = 10_000): Promise<number> {
  const { hostname, port } = new URL(url)
  return new Promise((resolve, reject) => {
    const started = performance.now()
    const socket = connect(Number(port), hostname)
    let timer: NodeJS.Timeout | undefined
    const stop = setTimeout(() => {
      socket.destroy()
      reject(new Error(`the server kept a slow client for more than ${giveUpMs} ms`))
    }, giveUpMs)
    socket.on('connect', () => {
      socket.write(`POST /token HTTP/1.1\r\nHost: ${hostname}\r\nX-Slow: `)
      timer = setInterval(() => socket.write('a'), dripMs)
    })
    socket.on('data', () => {})
    socket.on('error', () => {})
    socket.on('close', () => {
      clearInterval(timer)
      clearTimeout(stop)
      resolve(performance.now() - started)
    })
  })
}
