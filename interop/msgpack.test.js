// socket.io-client 4.8 with socket.io-msgpack-parser 3 against the C server
// (sio_options.parser = &sio_parser_msgpack) and the Node twin (socket.io
// 4.8 with parser: require("socket.io-msgpack-parser")): the feature tests
// of socketio.test.js, run with that parser on both sides, plus what only
// this parser has (its wire form, its checks on bad input).
"use strict";
process.env.SIO_TEST_PARSER = "msgpack";
require("./socketio.test.js");
