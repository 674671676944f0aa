/** node:sqlite still prints an "experimental" warning on every start; it says nothing a user can act on. */
export function quietSqliteWarning(): void {
  const listeners = process.listeners('warning');
  process.removeAllListeners('warning');
  process.on('warning', (warning) => {
    if (warning.name === 'ExperimentalWarning' && /SQLite/.test(warning.message)) return;
    for (const listener of listeners) listener(warning);
  });
}
