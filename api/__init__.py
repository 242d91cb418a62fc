"""REST"""
