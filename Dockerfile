# The API and the worker (same image, different command). Built by docker-compose.yml.
FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts=false && npm cache clean --force
COPY . .
USER node
EXPOSE 3000
CMD ["npm", "run", "api"]
