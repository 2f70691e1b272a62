//! Compiles `proto/actuator.proto` with a vendored `protoc`, so the build needs nothing but Rust.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut config = prost_build::Config::new();
    config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);
    config.type_attribute(".skyway.actuator.AuditEntry", "#[derive(serde::Serialize, serde::Deserialize)]");
    // A decision's sequence number is its position in the trail, not part of its line.
    config.field_attribute(".skyway.actuator.AuditEntry.seq", "#[serde(skip)]");
    tonic_prost_build::configure().compile_with_config(config, &["proto/actuator.proto"], &["proto"])?;
    Ok(())
}
