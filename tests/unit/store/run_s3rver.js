// Starts s3rver (the npm package whose directory is argv[2]) on 127.0.0.1 with a
// random port, data in argv[3] and one bucket argv[4]; appends "METHOD url" of
// every request to argv[5] (so tests can see e.g. the multipart parts the server
// received); prints the port line the tests wait for. Stops on SIGTERM.
const fs = require('fs');
const S3rver = require(process.argv[2]);
const server = new S3rver({
  address: '127.0.0.1',
  port: 0,
  silent: true,
  directory: process.argv[3],
  configureBuckets: [{ name: process.argv[4] }],
});
const requestLog = fs.openSync(process.argv[5], 'a');
server.middleware.unshift(async (ctx, next) => {
  fs.writeSync(requestLog, `${ctx.method} ${ctx.url}\n`);
  await next();
});
server
  .run()
  .then(({ address, port }) => console.log(`S3rver listening on ${address}:${port}`))
  .catch((err) => {
    console.error(err);
    process.exit(1);
  });
process.on('SIGTERM', () => server.close().then(() => process.exit(0)));
