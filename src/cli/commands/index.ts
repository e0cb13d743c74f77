import type { Command } from '../command.js';
import { allocCommands } from './alloc.js';
import { brokerCommands } from './broker.js';
import { demoCommand } from './demo.js';
import { imageCommands } from './image.js';
import { mapCommands } from './map.js';
import { runCommands } from './run.js';
import { subidCommands } from './subid.js';
import { tarCommands } from './tar.js';
import { usernsCommands } from './userns.js';

/** Every command of the binary. Each area adds its list here. */
export const commands: Command[] = [
  ...mapCommands,
  ...imageCommands,
  ...allocCommands,
  ...subidCommands,
  ...tarCommands,
  ...usernsCommands,
  ...runCommands,
  ...brokerCommands,
  demoCommand,
];
