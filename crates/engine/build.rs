//! Compiles `proto/plan.proto` (the plan header) with protox + prost-build; no `protoc` needed.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/plan.proto");
    let fds = protox::compile(["proto/plan.proto"], ["proto"])?;
    prost_build::Config::new().compile_fds(fds)?;
    Ok(())
}
