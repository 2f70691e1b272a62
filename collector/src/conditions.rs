//! How hard the camera's life is: noise, contrast, shadows, light and shake.
//!
//! Two presets, [`Conditions::easy`] and [`Conditions::hard`], are the easy and hard scene
//! sets. The renderer reads everything but `low_contrast_share`, which tells a traffic generator
//! how many vehicles to paint nearly the colour of the road.

use serde::{Deserialize, Serialize};

/// Imaging conditions for a run of frames.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conditions {
    /// A name for reports (`easy`, `hard`).
    pub name: String,
    /// Standard deviation of the sensor noise, in grey levels (of 255).
    pub noise_sigma: f64,
    /// How much a shadow darkens the road, 0 (none) to 1 (black).
    pub shadow_strength: f64,
    /// Shadow displacement per metre of vehicle height: (lateral to the left, forward) metres.
    pub shadow_dir: (f64, f64),
    /// Share of vehicles painted close to the road's grey (a generator's hint).
    pub low_contrast_share: f64,
    /// Gain lost by the end of a dusk ramp (0 = none, 0.5 = half the light).
    pub dusk_drop: f64,
    /// How long the dusk ramp takes, in seconds of world time.
    pub dusk_s: f64,
    /// Depth of the passing cloud shadow, 0 (none) to 1.
    pub cloud_depth: f64,
    /// How fast the cloud crosses the frame, in pixels per second.
    pub cloud_speed_px_s: f64,
    /// Largest camera shake, in pixels each way.
    pub jitter_px: i32,
}

impl Conditions {
    /// Clear day, steady light, a steady camera, vehicles that stand out.
    pub fn easy() -> Self {
        Self {
            name: "easy".into(),
            noise_sigma: 3.0,
            shadow_strength: 0.25,
            shadow_dir: (0.3, 0.2),
            low_contrast_share: 0.0,
            dusk_drop: 0.0,
            dusk_s: 600.0,
            cloud_depth: 0.0,
            cloud_speed_px_s: 0.0,
            jitter_px: 0,
        }
    }

    /// Strong noise, low-contrast vehicles, long shadows, dusk, a passing cloud, a shaking pole.
    pub fn hard() -> Self {
        Self {
            name: "hard".into(),
            noise_sigma: 9.0,
            shadow_strength: 0.5,
            shadow_dir: (0.7, 0.5),
            low_contrast_share: 0.25,
            dusk_drop: 0.45,
            dusk_s: 600.0,
            cloud_depth: 0.2,
            cloud_speed_px_s: 6.0,
            jitter_px: 1,
        }
    }

    /// A preset by name (`easy`, `hard`).
    pub fn by_name(name: &str) -> Option<Self> {
        match name {
            "easy" => Some(Self::easy()),
            "hard" => Some(Self::hard()),
            _ => None,
        }
    }

    /// The light's gain at a world time: the dusk ramp only (the cloud is spatial).
    pub fn gain_at(&self, time_s: f64) -> f64 {
        1.0 - self.dusk_drop * (time_s / self.dusk_s).clamp(0.0, 1.0)
    }
}
