"""The on-demand benchmark (`python -m bench`) and its helper processes; see README.md."""
