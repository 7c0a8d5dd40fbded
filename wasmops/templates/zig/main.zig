//! __NAME__: a WASI command in Zig. Reads text on stdin and writes {"bytes": N, "words": W}.
//! Empty input is an error: {"error": "no text"} on stdout, a note on stderr, exit status 2.
//! Raw WASI fd_read/fd_write keep the imports to what the `sandboxed` trust level allows.
const std = @import("std");
const wasi = std.os.wasi;

var in_buf: [1 << 16]u8 = undefined;
var out_buf: [128]u8 = undefined;

fn readAll(buf: []u8) []u8 {
    var len: usize = 0;
    while (len < buf.len) {
        const iov = [_]wasi.iovec_t{.{ .base = buf[len..].ptr, .len = buf.len - len }};
        var n: usize = 0;
        if (wasi.fd_read(0, &iov, iov.len, &n) != .SUCCESS or n == 0) break;
        len += n;
    }
    return buf[0..len];
}

fn writeAll(fd: wasi.fd_t, data: []const u8) void {
    var rest = data;
    while (rest.len > 0) {
        const iov = [_]wasi.ciovec_t{.{ .base = rest.ptr, .len = rest.len }};
        var n: usize = 0;
        if (wasi.fd_write(fd, &iov, iov.len, &n) != .SUCCESS or n == 0) return;
        rest = rest[n..];
    }
}

pub fn main() u8 {
    const input = readAll(&in_buf);
    var words: usize = 0;
    var in_word = false;
    for (input) |c| {
        const space = std.ascii.isWhitespace(c);
        if (!space and !in_word) words += 1;
        in_word = !space;
    }
    if (words == 0) {
        writeAll(1, "{\"error\": \"no text\"}\n");
        writeAll(2, "__NAME__: empty input\n");
        return 2;
    }
    var out: std.Io.Writer = .fixed(&out_buf);
    out.print("{{\"bytes\": {d}, \"words\": {d}}}\n", .{ input.len, words }) catch unreachable;
    writeAll(1, out.buffered());
    return 0;
}
