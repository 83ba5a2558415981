//! bindings/zig: run from the top of the source tree by tests/run.sh (zig test bindings/zig/test.zig
//! -I include -lc build/lib/libadeadvm.a -lm -lpthread -ldl).
const std = @import("std");
const adead = @import("adeadvm.zig");

test "assemble, bind, run, read an output" {
    var msg: [4096]u8 = undefined;
    const prog = try adead.Program.assemble(".input x f32\n.output y f32\n RELU y, x\n HALT\n", "t.adasm", &msg);
    defer prog.deinit();
    const vm = try adead.Vm.init(prog);
    defer vm.deinit();
    try vm.executor("cpu");
    try vm.bindF32("x", &[_]f32{ -1.0, 2.5, -0.0 }, &[_]i64{3});
    try vm.run();
    try std.testing.expectEqualSlices(f32, &[_]f32{ 0.0, 2.5, 0.0 }, try vm.outputF32("y"));
}

test "fib gives README's digest" {
    var msg: [4096]u8 = undefined;
    const source = try std.fs.cwd().readFileAlloc(std.testing.allocator, "examples/fib.adasm", 1 << 20);
    defer std.testing.allocator.free(source);
    const prog = try adead.Program.assemble(source, "examples/fib.adasm", &msg);
    defer prog.deinit();
    const vm = try adead.Vm.init(prog);
    defer vm.deinit();
    try vm.run();
    try std.testing.expectEqual(@as(i64, 6765), (try vm.outputI64("result"))[0]);
    var buf: [71]u8 = undefined;
    try std.testing.expectEqualStrings("sha256:9243998a00beac971f35d53572940f1046cff2ddbb8611e1820ccc27a3da68a4", try vm.digest(&buf));
}

test "a trap names the line" {
    var msg: [4096]u8 = undefined;
    const prog = try adead.Program.assemble(".tensor a f32 [2, 3]\n.tensor b f32 [2, 3]\n.tensor c f32\n MATMUL c, a, b\n HALT\n", "shapes.adasm", &msg);
    defer prog.deinit();
    const vm = try adead.Vm.init(prog);
    defer vm.deinit();
    try std.testing.expectError(error.Adead, vm.run());
    try std.testing.expect(std.mem.indexOf(u8, vm.message(), "shapes.adasm:4: pc 0 (MATMUL)") != null);
}

test "a load error says where" {
    var msg = std.mem.zeroes([4096]u8);
    try std.testing.expectError(error.Adead, adead.Program.assemble(" NOPE r0\n", "bad.adasm", &msg));
    try std.testing.expect(std.mem.indexOf(u8, &msg, "bad.adasm:1") != null);
}
