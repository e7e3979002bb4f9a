"""Grading: pure, framework-free evaluation of one grader on one sample."""
