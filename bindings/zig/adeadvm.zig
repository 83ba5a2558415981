//! Zig wrappers of libadeadvm through @cImport of include/adeadvm.h (Zig 0.14; @cImport left the
//! language in 0.16). Program and Vm own their C objects (deinit frees them); a failure is
//! error.Adead with the library's message in the Vm's or the Program's `message`.
const std = @import("std");
pub const c = @cImport(@cInclude("adeadvm.h"));

pub const Error = error{Adead};

pub const Program = struct {
    p: *c.adead_program,

    /// Assembles .adasm text; on error.Adead, `message` holds "file:line: error: ...".
    pub fn assemble(source: []const u8, filename: [*:0]const u8, message: []u8) Error!Program {
        var p: ?*c.adead_program = null;
        if (c.adead_program_assemble(source.ptr, source.len, filename, &p, message.ptr, message.len) != c.ADEAD_OK)
            return error.Adead;
        return .{ .p = p.? };
    }

    pub fn load(path: [*:0]const u8, message: []u8) Error!Program {
        var p: ?*c.adead_program = null;
        if (c.adead_program_load_file(path, &p, message.ptr, message.len) != c.ADEAD_OK) return error.Adead;
        return .{ .p = p.? };
    }

    pub fn deinit(self: Program) void {
        c.adead_program_free(self.p);
    }
};

pub const Vm = struct {
    vm: *c.adead_vm,

    pub fn init(prog: Program) Error!Vm {
        const vm = c.adead_vm_new(prog.p) orelse return error.Adead;
        return .{ .vm = vm };
    }

    pub fn deinit(self: Vm) void {
        c.adead_vm_free(self.vm);
    }

    /// The reason for the last failure (names the pc and the source line of a trap).
    pub fn message(self: Vm) []const u8 {
        return std.mem.span(c.adead_vm_error(self.vm));
    }

    fn check(rc: c_int) Error!void {
        if (rc != c.ADEAD_OK) return error.Adead;
    }

    pub fn executor(self: Vm, name: [*:0]const u8) Error!void {
        try check(c.adead_vm_set_executor(self.vm, name));
    }

    pub fn bindF32(self: Vm, name: [*:0]const u8, data: []const f32, shape: []const i64) Error!void {
        try check(c.adead_vm_bind(self.vm, name, c.ADEAD_F32, @intCast(shape.len), shape.ptr, data.ptr));
    }

    pub fn run(self: Vm) Error!void {
        try check(c.adead_vm_run(self.vm));
    }

    /// An f32 output's elements, valid until the Vm is freed.
    pub fn outputF32(self: Vm, name: [*:0]const u8) Error![]const f32 {
        var v: c.adead_tensor_view = undefined;
        try check(c.adead_vm_output(self.vm, name, &v));
        if (v.dtype != c.ADEAD_F32) return error.Adead;
        const p: [*]const f32 = @ptrCast(@alignCast(v.data orelse return &[_]f32{}));
        return p[0 .. v.nbytes / 4];
    }

    pub fn outputI64(self: Vm, name: [*:0]const u8) Error![]const i64 {
        var v: c.adead_tensor_view = undefined;
        try check(c.adead_vm_output(self.vm, name, &v));
        if (v.dtype != c.ADEAD_I64) return error.Adead;
        const p: [*]const i64 = @ptrCast(@alignCast(v.data orelse return &[_]i64{}));
        return p[0 .. v.nbytes / 8];
    }

    /// "sha256:<hex>" over every output, into buf (71 bytes).
    pub fn digest(self: Vm, buf: *[71]u8) Error![]const u8 {
        var hex: [65]u8 = undefined;
        try check(c.adead_vm_digest(self.vm, &hex));
        @memcpy(buf[0..7], "sha256:");
        @memcpy(buf[7..71], hex[0..64]);
        return buf[0..71];
    }
};
