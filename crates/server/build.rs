//! Compiles every `proto/*.proto` of this crate with protox (pure Rust, no system protoc),
//! generates prost messages and tonic services (server and client) for them, and writes the
//! encoded `FileDescriptorSet` to `$OUT_DIR/inference_descriptor.bin` for prost-reflect
//! (text-format config parsing, JSON mapping, gRPC reflection).

use std::path::{Path, PathBuf};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_dir = Path::new("proto");
    // Rerun when a proto is added or removed (directory) or edited (each file).
    println!("cargo:rerun-if-changed=proto");
    let mut files: Vec<PathBuf> = Vec::new();
    for entry in std::fs::read_dir(proto_dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "proto") {
            println!("cargo:rerun-if-changed={}", path.display());
            files.push(path.strip_prefix(proto_dir)?.to_path_buf());
        }
    }
    files.sort();

    let mut compiler = protox::Compiler::new([proto_dir])?;
    compiler.include_imports(true).include_source_info(false);
    compiler.open_files(&files)?;
    let fds = compiler.file_descriptor_set();
    let encoded = compiler.encode_file_descriptor_set();

    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    let descriptor_path = out_dir.join("inference_descriptor.bin");
    std::fs::write(&descriptor_path, encoded)?;

    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .file_descriptor_set_path(&descriptor_path)
        .compile_fds(fds)?;
    Ok(())
}
