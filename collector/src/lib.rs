//! Skyway's roadside cameras and analyzers, the pure core: a camera renderer that turns a scene
//! into a frame and its ground truth, a classical image-analysis pipeline that counts vehicles
//! per lane and raises stalled-vehicle alarms, and the scoring of one against the other.
//!
//! No I/O, no clock, no threads: the shells that push frames to blob storage, read them by URL
//! and write results to the coordinator are built on top of this API.

pub mod analysis;
pub mod camera;
pub mod codec;
pub mod conditions;
pub mod error;
pub mod eval;
pub mod geom;
pub mod record;
pub mod render;
pub mod rng;
pub mod scene;

pub use analysis::result::{AnalysisResult, LaneResult, PeriodAccumulator};
pub use analysis::stall::StalledAlarm;
pub use analysis::{AnalyzerConfig, Background, Blob, Detections, LoopReading, analyze};
pub use camera::LaneGeometry;
pub use codec::{Format, decode, encode};
pub use conditions::Conditions;
pub use error::CollectorError;
pub use eval::{EvalConfig, EvalReport, run};
pub use geom::BBox;
pub use render::{Renderer, Truth, TruthBox, render, render_road};
pub use scene::{CameraSpec, RoadScene, Scene, SceneClosure, SceneVehicle};
