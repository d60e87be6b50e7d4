"""What a reviewer reads: the Evidently drift report, the experiment's figures, the collapse forecast and the
audit page."""
