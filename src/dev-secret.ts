import { readFileSync, writeFileSync } from 'node:fs'

/**
 * The development secret kept in `file`, created with `create` on first use (mode 0600), so that secrets
 * survive restarts without any production default being written into the code.
 */
export function readOrCreate(file: string, create: () => string): string {
  try {
    return readFileSync(file, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  const value = create()
  // 'wx': if another process created it first, theirs wins and we read it back.
  try {
    writeFileSync(file, value, { mode: 0o600, flag: 'wx' })
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
  }
  return readFileSync(file, 'utf8')
}
