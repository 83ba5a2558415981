// bindings/cpp/adeadvm.hpp: built with -std=c++17 -Wall -Wextra -Werror (a C++ user's flags), the
// wrappers own and free, move, throw adeadvm::Error with the library's message, and give the same
// results as the C API: an assembled program, inputs of each dtype, outputs and the digest, a trap,
// fuel, PRINT through a callback, and the direct API.
#include <cstdarg>
#include <cstddef>
#include <csetjmp>

extern "C" {
#include <cmocka.h>
}

#include "../bindings/cpp/adeadvm.hpp"

#include <string>
#include <vector>

static const char *const mlp_like =
    ".input  x f32\n.tensor w f32 [2, 2] = [1, 2, 3, 4]\n.output y f32\n.output n i64 [1]\n"
    " MATMUL y, x, w\n RELU y, y\n LDI r0, 0\n LDI r1, 7\n TST n, r0, r1\n PRINTI r1\n HALT\n";

static void test_program_and_vm(void **) {
    auto prog = adeadvm::Program::assemble(mlp_like, "mlp_like.adasm");
    assert_true(prog.inputs() == std::vector<std::string>{"x"});
    assert_int_equal(prog.outputs().size(), 2);
    std::vector<float> x = {1, -1, 2, 0.5f};
    std::string printed;
    adeadvm::Vm vm(prog);
    vm.executor("cpu").on_print([&](std::string_view s) { printed += s; }).bind("x", x, {2, 2});
    assert_true(vm.run());
    auto y = vm.output("y");
    assert_int_equal(y.dtype, ADEAD_F32);
    assert_true(y.shape == (std::vector<std::int64_t>{2, 2}));
    std::vector<float> want = {0, 0, 3.5f, 6}; // relu([1,-1;2,.5] [1,2;3,4])
    assert_true(y.to_vector<float>() == want);
    assert_int_equal(vm.output("n").as<std::int64_t>()[0], 7);
    assert_string_equal(printed.c_str(), "7\n");
    assert_int_equal(vm.digest().rfind("sha256:", 0), 0);
    assert_true(vm.instructions() > 0);
    adeadvm::Vm moved = std::move(vm); // owners move
    assert_int_equal(moved.output("n").as<std::int64_t>()[0], 7);
    bool threw = false;
    try {
        (void)moved.output("n").as<float>();
    } catch (const adeadvm::Error &e) {
        threw = e.status() == ADEAD_E_ARG;
    }
    assert_true(threw);
}

static void test_errors_carry_the_message(void **) {
    bool threw = false;
    try {
        adeadvm::Program::assemble(" NOPE r0\n", "bad.adasm");
    } catch (const adeadvm::Error &e) {
        threw = e.status() == ADEAD_E_LOAD && std::string(e.what()).find("bad.adasm:1") != std::string::npos;
    }
    assert_true(threw);
    auto prog = adeadvm::Program::assemble(".tensor a f32 [2, 3]\n.tensor b f32 [2, 3]\n.tensor c f32\n MATMUL c, a, b\n HALT\n",
                                           "shapes.adasm");
    adeadvm::Vm vm(prog);
    threw = false;
    try {
        vm.run();
    } catch (const adeadvm::Error &e) {
        threw = e.status() == ADEAD_E_TRAP && std::string(e.what()).find("shapes.adasm:4") != std::string::npos;
    }
    assert_true(threw);
    threw = false;
    try {
        adeadvm::Vm(prog).executor("nonesuch");
    } catch (const adeadvm::Error &e) {
        threw = std::string(e.what()).find("no executor \"nonesuch\"") != std::string::npos;
    }
    assert_true(threw);
}

static void test_fuel(void **) {
    auto prog = adeadvm::Program::load("examples/fib.adasm");
    adeadvm::Vm vm(prog);
    vm.fuel(100);
    int stops = 0;
    while (!vm.run()) {
        vm.add_fuel(100);
        stops++;
    }
    assert_true(stops > 0);
    assert_int_equal(vm.output("result").as<std::int64_t>()[0], 6765);
}

static void test_direct(void **) {
    adeadvm::direct::init(adeadvm::direct::Backend::Cpu);
    float a[4] = {1, 2, 3, 4}, b[4] = {5, 6, 7, 8}, c[4];
    adeadvm::direct::matmul(a, b, c, 2, 2, 2);
    assert_true(c[0] == 19 && c[3] == 50);
    bool threw = false;
    try {
        adeadvm::direct::relu(a, c, -1);
    } catch (const adeadvm::Error &e) {
        threw = std::string(e.what()).find("adead_relu") != std::string::npos;
    }
    assert_true(threw);
    adeadvm::direct::shutdown();
}

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_program_and_vm),
        cmocka_unit_test(test_errors_carry_the_message),
        cmocka_unit_test(test_fuel),
        cmocka_unit_test(test_direct),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
