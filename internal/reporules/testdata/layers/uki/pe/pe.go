package pe
