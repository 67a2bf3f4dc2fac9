//! What a sketch or counter measures, and the name it is stored under.

/// What a sketch or counter measures. Stored under its snake_case name (`arm_conversion`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, strum::IntoStaticStr, strum::EnumIter)]
#[strum(serialize_all = "snake_case")]
pub enum Kind {
    /// Distinct visitors of a segment (key: segment id).
    Segment,
    /// Distinct visitors exposed to an experiment arm (key: `experiment/arm`).
    Exposure,
    /// Distinct converters per arm and goal (key: `experiment/arm/goal`).
    ArmConversion,
    /// Distinct converters per goal and segment (key: `goal/segment`).
    SegmentConversion,
    /// Page views of a segment (counter; key: segment id).
    Views,
    /// Distinct networks behind [`Kind::Segment`].
    SegmentNetworks,
    /// Distinct networks behind [`Kind::Exposure`].
    ExposureNetworks,
    /// Distinct networks behind [`Kind::ArmConversion`].
    ArmConversionNetworks,
    /// Distinct networks behind [`Kind::SegmentConversion`].
    SegmentConversionNetworks,
}

impl Kind {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// The kind counting the distinct networks behind a distinct-visitor kind.
    pub fn networks(self) -> Option<Kind> {
        match self {
            Kind::Segment => Some(Kind::SegmentNetworks),
            Kind::Exposure => Some(Kind::ExposureNetworks),
            Kind::ArmConversion => Some(Kind::ArmConversionNetworks),
            Kind::SegmentConversion => Some(Kind::SegmentConversionNetworks),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strum::IntoEnumIterator;

    /// The names are stored: they must not change when a variant is renamed or added.
    #[test]
    fn stored_names_are_stable() {
        let names: Vec<&str> = Kind::iter().map(Kind::as_str).collect();
        assert_eq!(
            names,
            [
                "segment",
                "exposure",
                "arm_conversion",
                "segment_conversion",
                "views",
                "segment_networks",
                "exposure_networks",
                "arm_conversion_networks",
                "segment_conversion_networks",
            ]
        );
    }
}
