/**
 * Run as a test user: connects to the broker socket given as argv[2], so the
 * broker records that user (SO_PEERCRED is taken at connect), and hands the
 * connected socket to the test process over fd 3 (SCM_RIGHTS). The test then
 * drives the protocol itself, byte by byte if it wants.
 */
import { closeDescriptor, send, unixConnect } from '../../../src/kernel/socket/unix-socket.js';

const fd = unixConnect(process.argv[2]);
send(3, Buffer.from('c'), [fd]);
closeDescriptor(fd);
