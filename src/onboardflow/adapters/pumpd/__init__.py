"""The Pumpd platform: the 12 Yolo Mode operations."""
