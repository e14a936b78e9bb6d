/**
 * Shell text for commands the kit prints or writes for a user or a scheduler to run (the official launcher's
 * command, an sbatch script): one quoting rule, POSIX single quotes, so a path with spaces or a value with `$`
 * reaches the program unchanged.
 */

/** `s` as one shell word: unchanged when it holds only safe characters, else single-quoted ('it'\''s'). */
export function shellQuote(s: string): string {
  return /^[A-Za-z0-9_./:=@%+,-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}
