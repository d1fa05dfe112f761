"""disclosure_gap: what systems hold and send, compared with what the notice discloses."""
