"""The fault suite (issue 7): each fault the monitor can meet, and proof it neither crashes, lies nor loses alerts."""
