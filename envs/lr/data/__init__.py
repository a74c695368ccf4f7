"""Small UCI datasets the LR tasks read (data only; see README.md here)."""
