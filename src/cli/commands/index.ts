import type { Command } from '../command.js';
import { demoCommand } from './demo.js';
import { imageCommands } from './image.js';
import { mapCommands } from './map.js';

/** Every command of the binary. Each area adds its list here. */
export const commands: Command[] = [
  ...mapCommands,
  ...imageCommands,
  demoCommand,
];
