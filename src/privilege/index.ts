/**
 * Who does a container's privileged steps: fsidmap itself as root, or the
 * broker for an ordinary user — chosen once, for the CLI and the library's
 * top level. The level above container/ and broker/.
 */
export { choosePrivilegePort, chooseRunRegistry } from './choose.js';
export { startContainer, runContainer } from './with-default-port.js';
