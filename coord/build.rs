//! Compiles `proto/*.proto` with a vendored `protoc`, so the build needs nothing but Rust, and
//! keeps the descriptor set for the server reflection service (grpcurl without the files).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut config = prost_build::Config::new();
    config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);
    config.bytes(["."]);
    let descriptors = std::path::PathBuf::from(std::env::var("OUT_DIR")?).join("skyway_descriptor.bin");
    tonic_prost_build::configure().file_descriptor_set_path(descriptors).compile_with_config(
        config,
        &["proto/coord.proto", "proto/raft.proto"],
        &["proto"],
    )?;
    Ok(())
}
