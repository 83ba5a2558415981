//! The safe crate against the library: a program with slices in and out, README's digest of an
//! example, a trap naming the line, fuel, threads sharing one program, and the direct API.
use adeadvm::{direct, Program, Run, Vm};

const TOP: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../..");

#[test]
fn assemble_bind_run_output() {
    let p = Program::assemble(".input x f32\n.output y f32\n.output n i64 [1]\n RELU y, x\n LDI r0, 0\n LDI r1, 7\n TST n, r0, r1\n HALT\n",
                              "t.adasm").unwrap();
    assert_eq!(p.inputs(), vec!["x"]);
    assert_eq!(p.outputs(), vec!["y", "n"]);
    let mut vm = Vm::new(&p).unwrap();
    vm.executor("cpu").unwrap().bind("x", &[-1.0f32, 2.0, -0.0, f32::INFINITY], &[2, 2]).unwrap();
    assert_eq!(vm.run().unwrap(), Run::Halted);
    let y = vm.output::<f32>("y").unwrap();
    assert_eq!(y.shape, vec![2, 2]);
    assert_eq!(y.data, vec![0.0, 2.0, 0.0, f32::INFINITY]);
    assert_eq!(vm.output::<i64>("n").unwrap().data, vec![7]);
    assert!(vm.output::<f32>("n").is_err());
    assert!(vm.bind("x", &[1.0f32], &[2]).is_err());
}

#[test]
fn readme_digest_of_fib() {
    let p = Program::load(&format!("{TOP}/examples/fib.adasm")).unwrap();
    let mut vm = Vm::new(&p).unwrap();
    vm.run().unwrap();
    assert_eq!(vm.output::<i64>("result").unwrap().data, vec![6765]);
    let readme = std::fs::read_to_string(format!("{TOP}/README.md")).unwrap();
    let line = readme.lines().find(|l| l.contains("--digest examples/fib.adasm`")).unwrap();
    assert!(line.contains(&vm.digest().unwrap()), "{line}");
}

#[test]
fn errors_name_the_line() {
    let e = Program::assemble(" NOPE r0\n", "bad.adasm").err().unwrap();
    assert_eq!(e.status, adeadvm_sys::ADEAD_E_LOAD);
    assert!(e.message.contains("bad.adasm:1"), "{e}");
    let p = Program::assemble(".tensor a f32 [2, 3]\n.tensor b f32 [2, 3]\n.tensor c f32\n MATMUL c, a, b\n HALT\n", "shapes.adasm")
        .unwrap();
    let e = Vm::new(&p).unwrap().run().err().unwrap();
    assert_eq!(e.status, adeadvm_sys::ADEAD_E_TRAP);
    assert!(e.message.contains("shapes.adasm:4: pc 0 (MATMUL)"), "{e}");
}

#[test]
fn fuel_slices() {
    let p = Program::load(&format!("{TOP}/examples/fib.adasm")).unwrap();
    let mut vm = Vm::new(&p).unwrap();
    vm.fuel(100).unwrap();
    let mut stops = 0;
    while vm.run().unwrap() == Run::OutOfFuel {
        vm.add_fuel(100).unwrap();
        stops += 1;
    }
    assert!(stops > 0);
    assert_eq!(vm.output::<i64>("result").unwrap().data, vec![6765]);
}

#[test]
fn one_program_many_threads() {
    let p = Program::load(&format!("{TOP}/examples/fib.adasm")).unwrap();
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                let mut vm = Vm::new(&p).unwrap();
                vm.run().unwrap();
                assert_eq!(vm.output::<i64>("result").unwrap().data, vec![6765]);
            });
        }
    });
}

#[test]
fn direct_api() {
    direct::init(direct::Backend::Cpu).unwrap();
    let c = direct::matmul(&[1.0, 2.0, 3.0, 4.0], &[5.0, 6.0, 7.0, 8.0], 2, 2, 2).unwrap();
    assert_eq!(c, vec![19.0, 22.0, 43.0, 50.0]);
    let s = direct::softmax(&[0.0, 0.0], 1, 2).unwrap();
    assert_eq!(s, vec![0.5, 0.5]);
    assert!(direct::matmul(&[1.0], &[1.0], 2, 2, 2).is_err());
    direct::shutdown();
}
