//! What a sketch or counter measures, and the name it is stored under.

/// What a sketch or counter measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
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
        match self {
            Kind::Segment => "segment",
            Kind::Exposure => "exposure",
            Kind::ArmConversion => "arm_conversion",
            Kind::SegmentConversion => "segment_conversion",
            Kind::Views => "views",
            Kind::SegmentNetworks => "segment_networks",
            Kind::ExposureNetworks => "exposure_networks",
            Kind::ArmConversionNetworks => "arm_conversion_networks",
            Kind::SegmentConversionNetworks => "segment_conversion_networks",
        }
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
