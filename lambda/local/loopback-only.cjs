'use strict';
/**
 * Preloaded (`node --require`) into the `serve --demo` upstream, server-everything. Its Streamable
 * HTTP transport calls `app.listen(PORT)` with no host, which listens on every interface, and it
 * has no option or environment variable for the host. This makes every TCP listen in that process
 * bind to 127.0.0.1 instead: the demo upstream has no authentication and must not be reachable
 * from the network. Unix sockets, pipes and inherited handles are left alone.
 */
const net = require('node:net');

const LOOPBACK = '127.0.0.1';
const listen = net.Server.prototype.listen;

function isPort(value) {
  return typeof value === 'number' || (typeof value === 'string' && /^\d+$/.test(value));
}

net.Server.prototype.listen = function listenOnLoopback(...args) {
  const [first] = args;
  if (first === undefined || first === null || typeof first === 'function') {
    // listen([callback]): a random port on every interface.
    args.splice(0, first === undefined || first === null ? 1 : 0, 0, LOOPBACK);
  } else if (isPort(first)) {
    // listen(port[, host][, backlog][, callback])
    if (typeof args[1] === 'string') args[1] = LOOPBACK;
    else args.splice(1, 0, LOOPBACK);
  } else if (typeof first === 'object' && first.path === undefined && first.fd === undefined && first._handle === undefined && first.handle === undefined) {
    // listen(options[, callback]) with a port (or none, which is a random port)
    args[0] = { ...first, host: LOOPBACK };
  }
  return listen.apply(this, args);
};
