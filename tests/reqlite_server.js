// Start reqlite (a RethinkDB server in JavaScript, for the tests) bound to 127.0.0.1 only.
// Usage: node tests/reqlite_server.js <reqlite package dir> <port>
// reqlite listens on every interface; this passes the host to listen() instead.
const net = require("net");
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (port, callback) {
  if (typeof port !== "number") return listen.apply(this, arguments);
  return listen.call(this, port, "127.0.0.1", () => {
    process.stdout.write("ready\n");
    if (callback) callback();
  });
};
const Server = require(process.argv[2] + "/lib/index.js");
new Server({ "driver-port": parseInt(process.argv[3], 10), silent: true });
