"""onboardflow: durable batch onboarding of restaurants onto an ordering platform."""

__version__ = "0.1.0"
