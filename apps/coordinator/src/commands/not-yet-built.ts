/** Exit for a subcommand whose issue has not landed yet: loud and non-zero, never a fake success. */
export function notYetBuilt(name: string, issue: number): never {
  process.stderr.write(`study ${name}: not built yet (issue ${issue}); nothing was done\n`);
  process.exit(3);
}
