"""Shared samples for the domain tests."""

from __future__ import annotations

from typing import Any

import pytest


def sample_config() -> dict[str, Any]:
    """A complete, valid Yolo Mode configuration (a fresh copy every call)."""
    return {
        "account": {"email": "owner@joespizza.co.nz", "password": "s3cret-pass", "phone": "+64 21 123 4567"},
        "restaurant": {
            "name": "Joe's Pizza",
            "address": "12 Queen Street, Auckland Central",
            "city": "Auckland",
            "phone": "09 123 4567",
            "email": "hello@joespizza.co.nz",
            "cuisine": "Pizza",
            "opening_hours": {"monday": "11:00-14:00, 17:00-21:00", "sunday": "closed"},
        },
        "menu": {"import_menu": True, "source": "extracted", "csv_url": None},
        "option_sets": {"enabled": True},
        "item_tags": {"enabled": False},
        "website": {
            "theme": "dark",
            "primary_colour": "#C0FFEE",
            "secondary_colour": "#112233",
            "logo_url": "https://cdn.example.com/joes/logo.png",
        },
        "services": {"delivery": True, "pickup": True, "dine_in": False},
        "payment": {"provider": "stripe", "stripe_api_key": "sk_test_123456"},
        "onboarding": {
            "create_user": True,
            "sync": True,
            "user_email": "joe@joespizza.co.nz",
            "user_name": "Joe",
        },
    }


@pytest.fixture
def valid_config() -> dict[str, Any]:
    """A complete, valid Yolo Mode configuration."""
    return sample_config()
