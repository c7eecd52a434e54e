"""The protected-voice bank: enrolment, calibration and search (issue 7)."""
