/**
 * Reading PKCS#11 return values (`CKR_*`) out of the binding's errors.
 * @packageDocumentation
 */
import type { Pkcs11Binding } from './module.js'

/** A `pkcs11js` Cryptoki error: a numeric `CKR_*` value in `code`. */
export interface CryptokiError extends Error {
  readonly code: number
}

/** Whether `error` carries a numeric PKCS#11 return value. */
export function isPkcs11Error(error: unknown): error is CryptokiError {
  return error instanceof Error && typeof (error as { code?: unknown }).code === 'number'
}

/** The `CKR_*` name of a PKCS#11 error (for details and messages), or `undefined`. */
export function ckrName(binding: Pkcs11Binding, error: unknown): string | undefined {
  if (!isPkcs11Error(error)) return undefined
  for (const [name, value] of Object.entries(binding))
    if (name.startsWith('CKR_') && value === error.code) return name
  return `0x${error.code.toString(16)}`
}

/**
 * Return values that mean the token, its sessions or its objects are gone: the signer drops its
 * sessions and reconnects after a module re-initialization. SoftHSM2 answers a deleted token
 * directory with `CKR_OBJECT_HANDLE_INVALID` and `CKR_GENERAL_ERROR`; USB tokens answer with
 * `CKR_DEVICE_REMOVED` or `CKR_TOKEN_NOT_PRESENT`.
 */
export function isTokenGone(binding: Pkcs11Binding, error: unknown): boolean {
  if (!isPkcs11Error(error)) return false
  return [
    binding.CKR_DEVICE_REMOVED,
    binding.CKR_DEVICE_ERROR,
    binding.CKR_TOKEN_NOT_PRESENT,
    binding.CKR_TOKEN_NOT_RECOGNIZED,
    binding.CKR_SESSION_HANDLE_INVALID,
    binding.CKR_SESSION_CLOSED,
    binding.CKR_OBJECT_HANDLE_INVALID,
    binding.CKR_KEY_HANDLE_INVALID,
    binding.CKR_USER_NOT_LOGGED_IN,
    binding.CKR_CRYPTOKI_NOT_INITIALIZED,
    binding.CKR_GENERAL_ERROR,
  ].includes(error.code)
}
