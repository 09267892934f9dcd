"""The host contract suite: one behaviour suite run on every host that serves ``ComponentASGI``."""
