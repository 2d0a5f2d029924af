import { UserFacingError } from '@dcar/domain';
import { createKnex, createLogger, loadAdminConfig, loadConfigOrExit } from '@dcar/platform';
import { CommandFailed, UsageError, findCommand, findHelp, usageText } from './commands.js';

// `pnpm admin <command>`: host operations from a terminal, printing JSON.
const argv = process.argv.slice(2).filter((arg, index) => !(index === 0 && arg === '--'));
const help = findHelp(argv);
if (help && 'text' in help) {
  process.stdout.write(`${help.text}\n`);
  process.exit(0);
}
if (help) {
  process.stderr.write(`unknown command: ${help.unknown}\n${usageText()}\n`);
  process.exit(2);
}
const found = findCommand(argv);
if (!found) {
  process.stderr.write(`${argv.length ? `unknown command: ${argv.join(' ')}\n` : ''}${usageText()}\n(pnpm admin --help describes every command)\n`);
  process.exit(2);
}

const config = loadConfigOrExit(loadAdminConfig, process.env);
// Logs go to stderr so stdout stays one JSON document a script can parse.
const logger = createLogger({ service: 'admin', level: config.logLevel, format: config.logFormat, replicaId: config.replicaId, fd: 2 });
const db = createKnex(config.databaseUrl, { max: 2 });
const progress = { isTTY: process.stderr.isTTY === true, write: (text: string) => void process.stderr.write(text) };

try {
  const result = await found.command.run({ config, db, logger, now: () => new Date(), progress }, found.args);
  process.stdout.write(`${JSON.stringify(result.output, null, 2)}\n`);
  process.exitCode = result.exitCode ?? 0;
} catch (error) {
  if (error instanceof UsageError) {
    process.stderr.write(`error: ${error.message}\nusage: pnpm admin ${found.command.usage}\n`);
    process.exitCode = 2;
  } else {
    // A refused operation's message is written for the operator; anything else also gets its stack logged.
    if (!(error instanceof UserFacingError) && !(error instanceof CommandFailed)) logger.error({ err: error }, 'command failed');
    process.stderr.write(`${JSON.stringify({ error: (error as Error).message })}\n`);
    process.exitCode = 1;
  }
} finally {
  await db.destroy();
}
